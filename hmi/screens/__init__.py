"""The PySide6 screens; every piece of logic they show or trigger lives in a Qt-free view-model."""
