//! The rate budgets contract on both adapters: in process (governor) and
//! on DynamoDB (the emulator at PODOPS_TEST_AWS_ENDPOINT, a fresh table per test).

mod aws_support;

mod in_process {
    use std::sync::Arc;

    use podops_adapters::embedded::InProcessBudgets;
    use podops_core::ports::RateBudgets;

    async fn fresh() -> Arc<dyn RateBudgets> {
        Arc::new(InProcessBudgets::new())
    }

    podops_adapters::rate_contract_tests!(fresh());
}

mod on_dynamodb {
    use std::sync::Arc;

    use podops_adapters::aws::DynamoRateBudgets;
    use podops_core::ports::RateBudgets;

    async fn fresh() -> Arc<dyn RateBudgets> {
        let (clients, config) = super::aws_support::fresh_table().await;
        Arc::new(DynamoRateBudgets::new(clients.dynamodb, config.table))
    }

    podops_adapters::rate_contract_tests!(fresh());

    /// Two processes are two adapters on one table: they share one budget.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_on_one_table_share_the_budget() {
        use podops_core::ports::{Budget, Take};
        let (clients, config) = super::aws_support::fresh_table().await;
        let first = DynamoRateBudgets::new(clients.dynamodb.clone(), config.table.clone());
        let second = DynamoRateBudgets::new(clients.dynamodb, config.table);
        let budget = Budget { interval: std::time::Duration::from_secs(1), burst: 4 };
        let mut allowed = 0;
        for i in 0..8 {
            let instance = if i % 2 == 0 { &first } else { &second };
            if matches!(instance.take("anonymous", "198.51.100.7", budget).await.expect("take"), Take::Allowed { .. }) {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 4, "one budget of 4 across both");
    }
}
