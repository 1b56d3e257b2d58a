"""Function images: built by the stock `faas-cli build` on podman, with no registry.

`engine` sets podman up for this kind of machine, `bases` makes the two local base
images the templates build from (a Debian Python base by debootstrap, the stock
of-watchdog binary as an image), `build` runs faas-cli for the stack's CPU functions.
`make images` and the container test use the same path (`faasml images build`).
"""
