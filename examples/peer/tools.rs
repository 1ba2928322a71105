//! The demo server's tools: WAzion-like `get_shop_status`, plus tools that exercise every
//! path a bridge must carry — plain results (`echo`), slow calls (`slow`), notifications
//! on the request's stream (`progress`, `log`) and server→client requests (`sample`,
//! `elicit`, `roots_count`).
// Sampling, roots and logging are deprecated by SEP-2577 in rmcp 3.x but remain valid on
// the 2025-xx protocol versions this demo negotiates.
#![allow(deprecated)]

use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, ClientResult, ContentBlock, CreateMessageRequestParams,
    ElicitRequest, ElicitRequestParams, ElicitationAction, ElicitationSchema, Implementation,
    InputRequest, InputRequiredResult, LoggingLevel, LoggingMessageNotificationParam,
    ProgressNotificationParam, ProtocolVersion, RequestMetaObject, ResourceUpdatedNotification,
    ResourceUpdatedNotificationParam, SamplingMessage, ServerCapabilities, ServerConfig,
    ServerNotification, ServerRequest, SetLevelRequestParams, SubscriptionFilter,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;

/// What `sample` asks the client's model.
pub const SAMPLE_PROMPT: &str = "Write a one-line greeting for the demo shop.";
/// What `elicit` asks the user; the answer is the `answer` string of the form.
/// The `requestState` the `confirm` tool expects back.
pub const CONFIRM_STATE: &str = "confirm-round-1";

pub const ELICIT_MESSAGE: &str = "Which order should I look up?";

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// Text returned unchanged.
    pub text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ShopOrdersArgs {
    /// Shop whose orders to count; mirrored into the `Mcp-Param-Shop` header (2026-07-28).
    #[schemars(extend("x-mcp-header" = "Shop"))]
    pub shop: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SlowArgs {
    /// How long to sleep before answering, in milliseconds.
    pub ms: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ProgressArgs {
    /// How many `notifications/progress` to send before answering.
    pub steps: u32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct LogArgs {
    /// Sent as the `data` of a `notifications/message` (level `info`, logger `demo`).
    pub message: String,
}

#[derive(Clone)]
pub struct DemoServer {
    tool_router: ToolRouter<Self>,
    /// Advertise only 2026-07-28 (a server that dropped `initialize`).
    modern_only: bool,
}

impl Default for DemoServer {
    fn default() -> Self {
        Self::new()
    }
}

/// The `elicitation/create` both `elicit` and `confirm` ask: one required `answer` string.
fn answer_request() -> Result<ElicitRequest, ErrorData> {
    let schema = ElicitationSchema::builder()
        .required_string("answer")
        .build()
        .map_err(|e| internal("elicitation schema", e))?;
    Ok(ElicitRequest::new(
        ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: ELICIT_MESSAGE.to_string(),
            requested_schema: schema,
        },
    ))
}

fn internal(context: &str, e: impl std::fmt::Display) -> ErrorData {
    ErrorData::internal_error(format!("{context}: {e}"), None)
}

#[tool_router]
impl DemoServer {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
            modern_only: false,
        }
    }

    pub fn modern_only(mut self, yes: bool) -> Self {
        self.modern_only = yes;
        self
    }

    #[tool(description = "Status of the WAzion demo shop: name, whether it is open, orders today")]
    async fn get_shop_status(&self) -> String {
        r#"{"shop":"WAzion Demo Shop","open":true,"ordersToday":3}"#.to_string()
    }

    #[tool(description = "Return the text unchanged")]
    async fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(description = "Orders today in the named shop (its name travels as a header too)")]
    async fn shop_orders(
        &self,
        Parameters(ShopOrdersArgs { shop }): Parameters<ShopOrdersArgs>,
    ) -> String {
        format!("{shop}: 3 orders today")
    }

    #[tool(description = "Sleep `ms` milliseconds, then answer `slept <ms> ms`")]
    async fn slow(&self, Parameters(SlowArgs { ms }): Parameters<SlowArgs>) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        format!("slept {ms} ms")
    }

    #[tool(
        description = "Send one progress notification per step (progress 1..=steps, total steps), then answer `done <steps> steps`"
    )]
    async fn progress(
        &self,
        Parameters(ProgressArgs { steps }): Parameters<ProgressArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<String, ErrorData> {
        let token = meta
            .get_progress_token()
            .ok_or_else(|| ErrorData::invalid_params("progress needs _meta.progressToken", None))?;
        for step in 1..=steps {
            peer.notify_progress(
                ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(steps))
                    .with_message(format!("step {step} of {steps}")),
            )
            .await
            .map_err(|e| internal("progress notification", e))?;
        }
        Ok(format!("done {steps} steps"))
    }

    #[tool(description = "Send the message as a logging notification, then answer `logged`")]
    async fn log(
        &self,
        Parameters(LogArgs { message }): Parameters<LogArgs>,
        peer: Peer<RoleServer>,
    ) -> Result<String, ErrorData> {
        peer.notify_logging_message(
            LoggingMessageNotificationParam::new(LoggingLevel::Info, message.into())
                .with_logger("demo"),
        )
        .await
        .map_err(|e| internal("logging notification", e))?;
        Ok("logged".to_string())
    }

    #[tool(description = "Ask the client's model (sampling/createMessage); answer with its text")]
    async fn sample(&self, peer: Peer<RoleServer>) -> Result<String, ErrorData> {
        let params =
            CreateMessageRequestParams::new(vec![SamplingMessage::user_text(SAMPLE_PROMPT)], 64);
        let result = peer
            .create_message(params)
            .await
            .map_err(|e| internal("sampling/createMessage", e))?;
        let text = result
            .message
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone())
            .ok_or_else(|| internal("sampling/createMessage", "no text in the result"))?;
        Ok(text)
    }

    #[tool(
        description = "Ask the user (elicitation/create) for an `answer`; answer with it, or `declined` / `cancelled`"
    )]
    async fn elicit(&self, peer: Peer<RoleServer>) -> Result<String, ErrorData> {
        let request = answer_request()?;
        let result = peer
            .send_request(ServerRequest::ElicitRequest(request))
            .await
            .map_err(|e| internal("elicitation/create", e))?;
        let ClientResult::ElicitResult(result) = result else {
            return Err(internal("elicitation/create", "unexpected result type"));
        };
        Ok(match result.action {
            ElicitationAction::Accept => result
                .content
                .as_ref()
                .and_then(|c| c.get("answer"))
                .and_then(|a| a.as_str())
                .ok_or_else(|| internal("elicitation/create", "accepted without an answer"))?
                .to_string(),
            ElicitationAction::Decline => "declined".to_string(),
            _ => "cancelled".to_string(),
        })
    }

    #[tool(
        description = "2026-07-28 style: ask the user for an `answer` through an input_required result (MRTR); answer `confirmed: <answer>`"
    )]
    async fn confirm(
        &self,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
    ) -> Result<CallToolResponse, ErrorData> {
        if let Some(answer) = responses.as_ref().and_then(|r| r.get("answer")) {
            if state.as_deref() != Some(CONFIRM_STATE) {
                return Err(internal("confirm", "requestState was not echoed"));
            }
            let text = answer
                .get("content")
                .and_then(|c| c.get("answer"))
                .and_then(|a| a.as_str())
                .unwrap_or("declined");
            return Ok(CallToolResponse::Complete(CallToolResult::success(vec![
                ContentBlock::text(format!("confirmed: {text}")),
            ])));
        }
        let request = answer_request()?;
        let mut requests = std::collections::BTreeMap::new();
        requests.insert("answer".to_string(), InputRequest::Elicitation(request));
        Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
            Some(requests),
            Some(CONFIRM_STATE.to_string()),
        )))
    }

    #[tool(description = "Ask the client for its roots (roots/list); answer with how many")]
    async fn roots_count(&self, peer: Peer<RoleServer>) -> Result<String, ErrorData> {
        let roots = peer
            .list_roots()
            .await
            .map_err(|e| internal("roots/list", e))?;
        Ok(roots.roots.len().to_string())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DemoServer {
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        if self.modern_only {
            std::borrow::Cow::Owned(vec![ProtocolVersion::V_2026_07_28])
        } else {
            std::borrow::Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    // 2026-07-28 resource subscriptions: every subscribed URI gets one
    // `notifications/resources/updated` as soon as the listen stream opens (the demo's
    // stand-in for "the order changed"), then the stream stays open until cancelled.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        let uris = subscription
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        for uri in uris {
            let update =
                ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(uri));
            subscription
                .sink()
                .send(ServerNotification::ResourceUpdatedNotification(update))
                .await
                .map_err(|e| internal("resources/updated", e))?;
        }
        subscription.cancelled().await;
        Ok(())
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new(
            "wazion-demo",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions("An offline stand-in for WAzion's MCP server, for trying wazion-mcp.")
    }

    /// The `logging` capability above promises `logging/setLevel` (rmcp's default answers
    /// -32601, which makes clients that set a level on connect, such as the MCP Inspector,
    /// give up). The `log` tool always sends its message, so the level is accepted and ignored.
    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Ok(())
    }
}
