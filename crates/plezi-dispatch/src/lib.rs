//! plezi-dispatch: routing, controllers, JSON auto-dispatch, AJAJ, the JavaScript client.
