"""Recommenders: matrix factorisation and the debiasing estimators of the ultd paper.

Each module registers its method when imported: :data:`fairbench.methods.METHODS` imports one when its
method is asked for.
"""
