"""pipeline: French news corpus -> cited French and English briefs, offline."""

__version__ = "0.1.0"
