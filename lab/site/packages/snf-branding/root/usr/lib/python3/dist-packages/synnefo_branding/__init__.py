# lab stand-in of snf-branding @VERSION@
