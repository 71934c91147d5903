"""Built-in assessors (NNI-REFERENCE §5.5)."""
from .curvefitting_assessor import CurvefittingAssessor as CurvefittingAssessor
from .medianstop_assessor import MedianstopAssessor as MedianstopAssessor

__all__ = ["CurvefittingAssessor", "MedianstopAssessor"]
