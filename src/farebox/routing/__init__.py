"""The model catalogue, request needs, smart-route policy and deployment health."""
