//! API rate limits on AWS: every instance of every function draws on one
//! budget per client, kept in DynamoDB. Two processes of the auth function
//! (two Lambda instances) and one of the productions function, one client IP.

mod support;

use podops_lambda::Function;
use support::Stack;
use support::events::get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lambda_instances_and_another_function_share_one_budget() {
    let mut stack = Stack::fresh().await;
    // 1 per minute, bursts of 4: the fifth request within the test is refused.
    stack.set("PODOPS_RATE_ANONYMOUS", "1/m:4");
    let (first, second, productions) = tokio::join!(stack.start(Function::Auth), stack.start(Function::Auth), stack.start(Function::Productions));

    // Anonymous API requests from one IP (the gateway's sourceIp), spread over the instances.
    let instances = [&first, &second, &productions, &first];
    for (i, instance) in instances.iter().enumerate() {
        let path = if i == 2 { "/a/v1/productions" } else { "/a/v1/public/nothing-here" };
        let r = instance.http(get(path)).await;
        assert!(r.status == 404 || r.status == 401, "request {i}: {} {}", r.status, r.text());
        assert_eq!(r.header("ratelimit-policy"), "\"anonymous\";q=4;w=240");
        assert_eq!(r.header("ratelimit"), format!("\"anonymous\";r={};t=0", 3 - i));
    }
    let r = second.http(get("/a/v1/public/nothing-here")).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (429, Some("rate.limited")), "{}", r.text());
    let retry: u64 = r.header("retry-after").parse().expect("seconds");
    assert!((50..=60).contains(&retry), "about one interval: {retry}");
    // Public delivery and the root are not limited.
    assert_eq!(productions.http(get("/")).await.status, 404);
    assert_eq!(first.http(get("/")).await.status, 200);
}
