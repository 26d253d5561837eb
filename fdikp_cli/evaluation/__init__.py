"""`fdikp evaluate` as a library: pairing, protocols, scoring, reports."""

from fdikp_cli.evaluation.pairing import DATASETS, EvalPair, pair_folders, resolve_dataset
from fdikp_cli.evaluation.protocol_io import PROTOCOLS, Protocol, get_protocol, read_image
from fdikp_cli.evaluation.report import EvaluationReport, ImageResult, Scores
from fdikp_cli.evaluation.runner import EvaluationInterrupted, EvaluationOptions, evaluate_dataset, evaluate_folders

__all__ = [
    "DATASETS",
    "PROTOCOLS",
    "EvalPair",
    "EvaluationInterrupted",
    "EvaluationOptions",
    "EvaluationReport",
    "ImageResult",
    "Protocol",
    "Scores",
    "evaluate_dataset",
    "evaluate_folders",
    "get_protocol",
    "pair_folders",
    "read_image",
    "resolve_dataset",
]
