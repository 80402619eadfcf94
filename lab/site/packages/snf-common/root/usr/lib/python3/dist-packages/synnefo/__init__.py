# Lab stand-in for Synnefo (snf-upgrade lab): the parts of Synnefo that an
# upgrade touches, on Python 3 and Debian's Django. Not the real Synnefo.
