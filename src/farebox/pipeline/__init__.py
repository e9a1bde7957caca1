"""The request stages, one module each; chat.py runs them in order."""
