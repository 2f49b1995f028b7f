"""gateway-config: kong.yml as the source of truth, rendered for Kong and for HAProxy."""
