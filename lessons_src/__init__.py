"""lessons_src: the helper package shared by every chapter of the KL-divergence course.

Each public function's docstring gives its formula, its units and the chapter that
teaches it. Natural logarithms (nats) are used throughout unless ``base`` says otherwise.
"""

from __future__ import annotations

__version__ = "0.3.0"

# -- divergences (library section: see each module) ---------------------------------------
# (exports added by the modules below)
from .continuous import (
    ReverseKLFit,
    fit_normal_reverse_kl,
    kl_mixture_normal,
    kl_normal_mixture,
    kl_quad,
    mixture_logpdf,
    mixture_moments,
)

# -- data and training (the chapters that train models) ------------------------------------
from .data import DigitsSplit, load_digits
from .divergences import js_distance, js_divergence, renyi_divergence, total_variation
from .environment import require
from .estimators import KLEstimates, kl_estimators
from .f_divergences import (
    F_GENERATORS,
    FDivergenceRow,
    FGenerator,
    chi2_divergence,
    f_divergence,
    f_divergence_table,
    hellinger_distance,
    squared_hellinger,
)
from .gan import (
    GANResult,
    SaturationRecord,
    gan_value,
    histogram_probs,
    mixture_bin_probs,
    optimal_discriminator,
    saturation_experiment,
    train_gan,
)
from .gaussian import kl_diag_normal, kl_mvn, kl_normal, vae_kl
from .information import cross_entropy, entropy, kl_divergence, mutual_information
from .mle import (
    ClassifierHistory,
    ClassifierMetrics,
    aic,
    classifier_metrics,
    distillation_loss,
    gaussian_nll,
    make_mlp,
    predict,
    single_thread,
    smooth_labels,
    soft_targets,
    train_classifier,
)

# -- book infrastructure -------------------------------------------------------------------
from .playground import (
    Playground,
    gaussian_fit_playground,
    load_bokehjs,
    two_distributions_playground,
)
from .quiz import QuizError, load_quiz, show_quiz
from .rl import (
    ContextualBandit,
    PPOHistory,
    RLHFHistory,
    adapt_beta,
    clipped_surrogate,
    kl_regularised_objective,
    kl_regularised_optimum,
    make_bandit,
    policy_ratio,
    train_kl_regularised,
    train_ppo,
)
from .seeding import set_seed
from .vae import kl_per_dim, ppca_elbo, ppca_log_marginal, ppca_posterior

__all__ = [
    "F_GENERATORS",
    "ClassifierHistory",
    "ClassifierMetrics",
    "ContextualBandit",
    "DigitsSplit",
    "FDivergenceRow",
    "FGenerator",
    "GANResult",
    "KLEstimates",
    "PPOHistory",
    "Playground",
    "QuizError",
    "RLHFHistory",
    "ReverseKLFit",
    "SaturationRecord",
    "__version__",
    "adapt_beta",
    "aic",
    "chi2_divergence",
    "classifier_metrics",
    "clipped_surrogate",
    "cross_entropy",
    "distillation_loss",
    "entropy",
    "f_divergence",
    "f_divergence_table",
    "fit_normal_reverse_kl",
    "gan_value",
    "gaussian_fit_playground",
    "gaussian_nll",
    "hellinger_distance",
    "histogram_probs",
    "js_distance",
    "js_divergence",
    "kl_diag_normal",
    "kl_divergence",
    "kl_estimators",
    "kl_mixture_normal",
    "kl_mvn",
    "kl_normal",
    "kl_normal_mixture",
    "kl_per_dim",
    "kl_quad",
    "kl_regularised_objective",
    "kl_regularised_optimum",
    "load_bokehjs",
    "load_digits",
    "load_quiz",
    "make_bandit",
    "make_mlp",
    "mixture_bin_probs",
    "mixture_logpdf",
    "mixture_moments",
    "mutual_information",
    "optimal_discriminator",
    "policy_ratio",
    "ppca_elbo",
    "ppca_log_marginal",
    "ppca_posterior",
    "predict",
    "renyi_divergence",
    "require",
    "saturation_experiment",
    "set_seed",
    "show_quiz",
    "single_thread",
    "smooth_labels",
    "soft_targets",
    "squared_hellinger",
    "total_variation",
    "train_classifier",
    "train_gan",
    "train_kl_regularised",
    "train_ppo",
    "two_distributions_playground",
    "vae_kl",
]
