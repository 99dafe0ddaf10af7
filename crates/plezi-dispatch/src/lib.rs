//! plezi-dispatch: routing, controllers, JSON auto-dispatch, AJAJ, the JavaScript client.

pub mod cookies;
pub mod generated;
pub mod params;
pub mod router;
