"""Unit scale constants. onnsim works in SI units inside (metres, radians, seconds).

Multiply by a constant to enter a value, divide to print one::

    from optics.units import mm, nm
    pitch = 0.4 * mm          # 4e-4 m
    print(wavelength / nm)    # in nanometres
"""

m = 1.0
cm = 1e-2
mm = 1e-3
um = 1e-6
nm = 1e-9

__all__ = ["m", "cm", "mm", "um", "nm"]
