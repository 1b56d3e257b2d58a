"""Deploying faasml on a cluster: what each function needs (measured), for stack.yml."""
