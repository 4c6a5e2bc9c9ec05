"""The PySide6 operator and review screens (view-models free of Qt)."""
