# lab stand-in of python-astakosclient @VERSION@
