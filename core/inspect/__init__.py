"""Inspection: one batched forward per input and variant set; statistics and similarities."""
