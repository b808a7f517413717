"""Unlearners: every method shares ``unlearn(model, forget, retain) -> model``.

Each module registers its method when imported: :data:`fairbench.methods.METHODS` imports one when its
method is asked for.
"""
