"""Rendering and checking: these read specs and stored records only, and never train."""
