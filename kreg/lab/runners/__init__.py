"""The experiments' runners: the course's football study, the CIFAR-10 study, and sweeps.

They sit on top of everything else (layers, regularizers, callbacks, training,
`kreg.models`, `kreg.datasets`); nothing below imports them.
"""
