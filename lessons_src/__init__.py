"""lessons_src: the helper package shared by every chapter of the KL-divergence course.

Each public function's docstring gives its formula, its units and the chapter that
teaches it. Natural logarithms (nats) are used throughout unless ``base`` says otherwise.
"""

from __future__ import annotations

__version__ = "0.1.0"

# -- divergences (library section: see each module) ---------------------------------------
# (exports added by the modules below)
from .divergences import js_distance, js_divergence, renyi_divergence, total_variation
from .estimators import KLEstimates, kl_estimators
from .gaussian import kl_diag_normal, kl_mvn, kl_normal, vae_kl
from .information import cross_entropy, entropy, kl_divergence, mutual_information

# -- data and training (the chapters that train models) ------------------------------------
from .data import DigitsSplit, load_digits

# -- book infrastructure -------------------------------------------------------------------
from .quiz import QuizError, load_quiz, show_quiz
from .seeding import set_seed

__all__ = [
    "DigitsSplit",
    "KLEstimates",
    "QuizError",
    "__version__",
    "cross_entropy",
    "entropy",
    "js_distance",
    "js_divergence",
    "kl_diag_normal",
    "kl_divergence",
    "kl_estimators",
    "kl_mvn",
    "kl_normal",
    "load_digits",
    "load_quiz",
    "mutual_information",
    "renyi_divergence",
    "set_seed",
    "show_quiz",
    "total_variation",
    "vae_kl",
]
