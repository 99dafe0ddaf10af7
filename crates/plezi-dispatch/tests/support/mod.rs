//! Test harness: a dispatch application on a real server (port 0), with the WebSocket and HTTP
//! clients of plezi-test-support. Every wait has a deadline; nothing sleeps.
#![allow(dead_code, unused_imports)]

pub mod controllers;
pub mod room;

use std::net::SocketAddr;

use plezi_dispatch::{Dispatcher, Routes};
use plezi_messaging::{Bus, BusConfig};
use plezi_server::{RunningServer, Server};
use serde_json::Value;

pub use plezi_test_support::http::{HttpReply, http};
pub use plezi_test_support::ws::{Got, Ws};
pub use plezi_test_support::{DEADLINE, eventually};

/// A running application.
pub struct TestApp {
    pub server: RunningServer,
    pub dispatcher: Dispatcher,
    pub addr: SocketAddr,
}

impl TestApp {
    /// Serves `routes` on an in-process bus, two event loops, a free port.
    pub fn start(routes: Routes) -> TestApp {
        TestApp::start_on(routes, Bus::in_process(BusConfig::default()))
    }

    /// Serves `routes` on `bus`.
    pub fn start_on(routes: Routes, bus: Bus) -> TestApp {
        let dispatcher = Dispatcher::new(routes, bus);
        let server = Server::builder()
            .bind("127.0.0.1:0")
            .threads(2)
            .service(dispatcher.service())
            .build()
            .expect("the test server binds");
        dispatcher.attach(server.handle());
        let addr = server.local_addr();
        let server = server.spawn().expect("the test server starts");
        TestApp {
            server,
            dispatcher,
            addr,
        }
    }

    /// A WebSocket client connected to `path`.
    pub fn ws(&self, path: &str) -> Ws {
        Ws::connect(self.addr, path)
    }

    /// One HTTP request (`Connection: close`).
    pub fn http(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpReply {
        http(self.addr, method, target, headers, body)
    }

    /// A JSON POST.
    pub fn post_json(&self, target: &str, body: &Value) -> HttpReply {
        self.http(
            "POST",
            target,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }
}
