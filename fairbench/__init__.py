"""fairbench: reproduce the tables of fairness-aware unlearning and counterfactual-fairness papers."""

__version__ = "0.1.0"
