/* The dashboard: see host/server/src/ui/mod.rs. */
