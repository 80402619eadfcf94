# lab stand-in of snf-django-lib @VERSION@
