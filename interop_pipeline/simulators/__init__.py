"""Local stand-ins for vendor systems and the synthetic district generator."""
