"""Fairness methods: group-aware predictors and counterfactually fair preprocessors (ob, sob, flap, ...).

Each module registers its method when imported: :data:`fairbench.methods.METHODS` imports one when its
method is asked for.
"""
