"""OpenFaaS's provider conformance suite (openfaas/certifier) run against `faasml up`.

`standins` builds, from the local Debian base and the stock watchdogs, the two images the
suite deploys, under the exact names it deploys them by; `certifier` starts `faasml up
--containers podman --empty` and runs the suite against it (`faasml conformance`).
"""
