//! Route matching with 100 routes: the last route matching, a miss, and params from a request.
//!
//! Run: `cargo bench -p plezi-benches --bench router -- --quick`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use plezi_dispatch::router::Router;
use plezi_dispatch::{Params, ParamsLimits};

/// 100 routes in the shapes real apps use: literals with the automatic `(:id)`, nested resources,
/// constrained segments; the last one is the one the "last route" case hits.
fn hundred_routes() -> Router {
    let mut router = Router::new();
    for i in 0..99 {
        let pattern = match i % 3 {
            0 => format!("/section{i}"),
            1 => format!("/api/v{i}/users/:user_id/posts"),
            _ => format!("/(:id){{publish{i}|echo{i}}}/(:title)"),
        };
        router.add(&pattern).expect("valid pattern");
    }
    router
        .add("/shop/:category/items/:id{\\d+}/(:format){json|html}")
        .expect("valid pattern");
    router
}

fn bench_router(c: &mut Criterion) {
    let router = hundred_routes();
    let last = "/shop/books/items/12345/json";
    let first_hit = router.first_match(last).expect("decodes").expect("matches");
    assert_eq!(
        first_hit.route.index(),
        99,
        "the last route must be the one matching"
    );
    let miss = "/nothing/here/at/all/x";
    assert!(router.first_match(miss).expect("decodes").is_none());

    let mut group = c.benchmark_group("router_100_routes");
    group.bench_function("last_route_match", |b| {
        b.iter(|| router.first_match(black_box(last)))
    });
    group.bench_function("miss", |b| b.iter(|| router.first_match(black_box(miss))));
    group.bench_function("first_route_match", |b| {
        b.iter(|| router.first_match(black_box("/section0/7")))
    });
    group.finish();

    let limits = ParamsLimits::default();
    c.bench_function("params_query_json_route_merge", |b| {
        b.iter(|| {
            let m = router
                .first_match(black_box(last))
                .ok()
                .flatten()
                .expect("matches");
            let mut params = Params::from_request(
                black_box(Some("page=2&sort=name&user%5Bname%5D=Ann+Lee")),
                Some("application/json"),
                black_box(br#"{"event":"chat","message":"hello","n":3}"#),
                &limits,
            )
            .expect("valid params");
            params.merge(m.params);
            params
        })
    });
}

criterion_group!(benches, bench_router);
criterion_main!(benches);
