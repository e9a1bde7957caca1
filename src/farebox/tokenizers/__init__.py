"""Offline token estimation: calibrated per-tokenizer-family profiles (see estimate)."""

from farebox.tokenizers.estimate import CL100K, O200K, PROFILES, Profile, profile_for_model, text_tokens

__all__ = ["CL100K", "O200K", "PROFILES", "Profile", "profile_for_model", "text_tokens"]
