"""Contract checks every implementation of an extension point passes.

A plug-in runs the same checks on its own implementations (the optuna
``optuna.testing`` / scikit-learn ``parametrize_with_checks`` style)::

    from autoprune.testing import check_granularity

    def test_my_granularity():
        check_granularity(MyGranularity())
"""
