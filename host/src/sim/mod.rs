//! Simulators of the services dpost talks to, so that everything can be tested offline: they
//! speak the real protocol through the same component as the client.

pub mod digipost;
pub mod ngdp;
