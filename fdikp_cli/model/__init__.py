"""The FDIKP network: `from fdikp_cli.model import FDIKP, FDIKPConfig`."""

from fdikp_cli.model.config import FDIKPConfig
from fdikp_cli.model.fdikp import FDIKP, FDIKPOutput, StageMaps, count_parameters, pad_to_multiple

__all__ = ["FDIKP", "FDIKPConfig", "FDIKPOutput", "StageMaps", "count_parameters", "pad_to_multiple"]
