"""Training FactorizePhys with FSAM: loop, losses, run folders, distributed set-up."""
