//! Default routes (`0.0.0.0/0`) to an internet or NAT gateway.

use crate::aws::{gone_ok, retry_not_found, send, Aws, AwsError};
use crate::resources::route::{Api, Via, DEFAULT};

impl Api for Aws {
    async fn create_route(
        &self,
        route_table: &str,
        via: Via,
        target: &str,
    ) -> Result<(), AwsError> {
        let req = self
            .ec2
            .create_route()
            .route_table_id(route_table)
            .destination_cidr_block(DEFAULT);
        let req = match via {
            Via::InternetGateway => req.gateway_id(target),
            Via::NatGateway => req.nat_gateway_id(target),
        };
        retry_not_found(self.not_found_window(), || async {
            send!(req.clone()).map(|_| ())
        })
        .await
    }

    async fn replace_route(
        &self,
        route_table: &str,
        via: Via,
        target: &str,
    ) -> Result<(), AwsError> {
        let req = self
            .ec2
            .replace_route()
            .route_table_id(route_table)
            .destination_cidr_block(DEFAULT);
        let req = match via {
            Via::InternetGateway => req.gateway_id(target),
            Via::NatGateway => req.nat_gateway_id(target),
        };
        retry_not_found(self.not_found_window(), || async {
            send!(req.clone()).map(|_| ())
        })
        .await
    }

    async fn delete_route(&self, route_table: &str) -> Result<(), AwsError> {
        gone_ok(
            send!(self
                .ec2
                .delete_route()
                .route_table_id(route_table)
                .destination_cidr_block(DEFAULT))
            .map(|_| ()),
        )
    }
}
