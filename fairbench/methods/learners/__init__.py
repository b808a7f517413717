"""Learners: the models that are trained, unlearned and evaluated (logistic, fair logistic, MLP, DNN, ResNets).

Each module registers its method when imported: :data:`fairbench.methods.METHODS` imports one when its
method is asked for.
"""
