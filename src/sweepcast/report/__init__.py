"""Plotly figures and HTML pages (per-run figures now; sweep reports build on them)."""
