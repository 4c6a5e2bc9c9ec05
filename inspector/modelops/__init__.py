"""ModelOps on the station: the model registry, promotion and rollback, and the detector's hot swap."""
