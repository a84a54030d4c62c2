"""How ferzoo scores models: the metrics (`metrics`), the losses (`losses`), the test
evaluation and its files (`evaluate`), cross-validation and the papers' ablations
(`experiments`). Importing the package loads nothing."""
