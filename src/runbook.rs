//! The upgrade as data: phases, steps, roles. Synnefo 0.19 is built in.
