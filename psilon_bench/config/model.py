"""Schemas of the `model` group: the ReLU MLP, the weight-normalized family (SWN, EWN,
PSiLON Net and ResNet) and the scikit-learn estimators' settings, with their choices."""

from dataclasses import dataclass
from enum import Enum

from omegaconf import MISSING

from psilon_bench.config.fields import ranged


class Norm(str, Enum):
    l1 = "l1"
    l2 = "l2"


class Length(str, Enum):
    shared = "shared"  # one length g per layer (PSiLON)
    per_unit = "per_unit"  # g_j per unit (SWN / Standard Net)
    exp_per_unit = "exp_per_unit"  # exp(a_j) per unit (EWN)


class Layout(str, Enum):
    mlp = "mlp"
    residual = "residual"  # CReLU residual blocks (PSiLON ResNet layout)


class Bound(str, Enum):
    improved = "improved"  # phi_IB, docs/methods.md (residual bounds)
    original = "original"  # phi_OB


class OutputLayer(str, Enum):
    normalized = "normalized"  # weight-normalized with per-output lengths
    plain = "plain"  # an ordinary linear layer ([EWN] option)


class DirectionInit(str, Enum):
    orthogonal = "orthogonal"  # [PSiLON]
    kaiming_uniform = "kaiming_uniform"  # PyTorch's nn.Linear default
    kaiming_normal = "kaiming_normal"  # N(0, 2/fan_in), [EWN]'s reference code


class WeightInit(str, Enum):
    default = (
        "default"  # the model's own init (MLP: nn.Linear's; weight norm: direction/length_init)
    )
    kaiming_normal = "kaiming_normal"  # [EWN]'s reference: Kaiming-normal weights, zero biases


class LengthInit(str, Enum):
    one = "one"  # g = 1 (exp(a) with a = 0 for EWN)
    kaiming = "kaiming"  # the row norm of a Kaiming-uniform reference layer ([EWN] option)


@dataclass
class MLPConfig:
    """Baseline ReLU MLP, docs/methods.md (MLP) (PyTorch's Kaiming-uniform init)."""

    name: str = "mlp"
    width: int = ranged(64, 1)
    depth: int = ranged(2, 0)  # hidden layers (K - 1)
    init: WeightInit = WeightInit.default  # kaiming_normal: [EWN]'s reference init
    output_bias: bool = True  # false: a bias-free output layer ([EWN]'s reference)


@dataclass
class WeightNormConfig:
    """The weight-normalized family, docs/methods.md (weight norm) (SWN, EWN, L1 per unit, PSiLON)."""

    name: str = MISSING
    width: int = ranged(64, 1)
    depth: int = ranged(2, 0)  # hidden layers (mlp) or residual blocks (residual)
    norm: Norm = Norm.l1
    length: Length = Length.shared
    layout: Layout = Layout.mlp
    bound: Bound = Bound.improved  # residual only: the bound regularizer=path_norm uses
    fold_bias: bool = False  # bias inside the normalized vector (input augmented with 1)
    output_layer: OutputLayer = OutputLayer.normalized
    direction_init: DirectionInit = DirectionInit.orthogonal
    length_init: LengthInit = LengthInit.one
    # kaiming_normal: every layer starts as the Kaiming-normal draw an `mlp` with
    # init=kaiming_normal and the same seed gets (direction = its rows, length = their
    # norms), zero biases: [EWN]'s reference; overrides direction_init/length_init
    init: WeightInit = WeightInit.default
    output_bias: bool = True  # false: a bias-free output layer (output_layer=plain only)


@dataclass
class SklearnLinearConfig:
    """scikit-learn logistic / ridge regression baselines (`psilon_bench.baselines.sklearn`, docs/protocols.md
    P1); their penalty strength is `regularizer.strength` (1/C for logistic, alpha for ridge)."""

    name: str = MISSING
    max_iter: int = ranged(1000, 1)  # solver iterations (lbfgs for logistic; ridge: unused)
    tol: float = ranged(1e-4, 0, None, "neither")  # solver tolerance


@dataclass
class SklearnForestConfig:
    """scikit-learn random forest baseline (`psilon_bench.baselines.sklearn`): `regularizer.strength`
    is min_samples_leaf (0 and 1 both mean 1, fully grown trees)."""

    name: str = "sklearn_rf"
    n_estimators: int = ranged(200, 1)  # trees
    max_features: float | None = ranged(None, 0, 1, "right", optional=True)  # null: sklearn's


@dataclass
class SklearnMLPConfig:
    """scikit-learn MLP baseline (`psilon_bench.baselines.sklearn`): `regularizer.strength` is
    its L2 alpha and `optimizer.lr` its learning_rate_init (both member axes)."""

    name: str = "sklearn_mlp"
    width: int = ranged(64, 1)  # units per hidden layer
    depth: int = ranged(2, 1)  # hidden layers
    batch_size: int = ranged(32, 1)  # rows per Adam step (min(batch_size, n_train))
    max_iter: int = ranged(300, 1)  # epochs at most
    tol: float = ranged(1e-4, 0, None, "left")  # stop when the training loss improves less
    n_iter_no_change: int = ranged(10, 1)  # ... for this many epochs


@dataclass
class SklearnHGBConfig:
    """scikit-learn histogram gradient boosting baseline (`psilon_bench.baselines.sklearn`):
    `regularizer.strength` is its l2_regularization and `optimizer.lr` its learning_rate (both
    member axes). No early stopping on a split of its own: the run's validation rows select."""

    name: str = "sklearn_hgb"
    max_iter: int = ranged(200, 1)  # boosting rounds
    max_leaf_nodes: int = ranged(31, 2)  # leaves per tree
    min_samples_leaf: int = ranged(20, 1)  # rows per leaf at least
    max_features: float = ranged(1.0, 0, 1, "right")  # fraction of features per split


@dataclass
class CatBoostConfig:
    """CatBoost baseline (`psilon_bench.baselines.gbdt`, extra `[gbdt]`): `regularizer.strength`
    is its l2_leaf_reg and `optimizer.lr` its learning_rate (both member axes)."""

    name: str = "catboost"
    n_estimators: int = ranged(200, 1)  # boosting rounds (iterations)
    depth: int = ranged(6, 1, 16)  # depth of each (symmetric) tree


@dataclass
class LightGBMConfig:
    """LightGBM baseline (`psilon_bench.baselines.gbdt`, extra `[gbdt]`): `regularizer.strength`
    is its reg_lambda (L2) and `optimizer.lr` its learning_rate (both member axes)."""

    name: str = "lightgbm"
    n_estimators: int = ranged(200, 1)  # boosting rounds
    num_leaves: int = ranged(31, 2)  # leaves per tree at most
    min_child_samples: int = ranged(20, 1)  # rows per leaf at least


@dataclass
class XGBoostConfig:
    """XGBoost baseline (`psilon_bench.baselines.gbdt`, extra `[gbdt]`): `regularizer.strength`
    is its reg_lambda (L2) and `optimizer.lr` its learning_rate (both member axes)."""

    name: str = "xgboost"
    n_estimators: int = ranged(200, 1)  # boosting rounds
    max_depth: int = ranged(6, 1)  # depth of each tree at most
    min_child_weight: float = ranged(1.0, 0)  # hessian sum per leaf at least
