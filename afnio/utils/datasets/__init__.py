"""Ready-made datasets, downloaded on first use and verified by MD5.

Download helpers live in :mod:`afnio.utils.datasets.utils`.
"""

from afnio.utils.datasets.facility_support import FacilitySupport
from afnio.utils.datasets.trec import TREC

__all__ = ["TREC", "FacilitySupport"]
