"""Mixed Chinese/English templates, as real operator and customer messages are written."""

TEMPLATES: dict[str, dict[int, tuple[str, ...]]] = {
    "运输中": {
        0: (
            "{carrier}运单{waybill} status: in transit，预计{date}到",
            "订单{order} shipped，正在发往{city2}",
            "Tracking {waybill} 已到{city} hub",
        ),
        1: ("包裹 on the way 啦，单号{waybill}",),
        2: ("Linehaul {city}→{city2} 在途中，order {order}",),
        3: ("直播订单{order} shipped，{carrier}派送中",),
    },
    "已签收": {
        0: (
            "运单{waybill} delivered，签收人{name}",
            "Order {order} 已签收 thanks",
            "{item}已送达 signed by {name}",
        ),
        1: ("快件放locker了，pickup code {code}",),
        2: ("POD已上传，订单{order} delivered",),
        3: ("Locker 取件成功，{item}拿到了",),
    },
    "延误": {
        0: (
            "订单{order} delay了，ETA改到{date}",
            "{waybill} delayed {days}天，因为天气",
            "Sorry，{city}仓 backlog，发货延迟",
        ),
        1: ("Peak season 爆仓，{order}晚{days}天发",),
        2: ("Port congestion，集装箱{waybill}推迟到港",),
        3: ("Mid-year sale 爆单，{order}晚{days}天发",),
    },
    "异常": {
        0: (
            "包裹{waybill} damaged，外箱破了",
            "Order {order} lost in transit，申请理赔{amount}",
            "{waybill}派送 exception：电话打不通",
        ),
        1: ("开箱 {item} 碎了 order {order}",),
        2: ("Cold chain 断链，{item}温度异常",),
        3: ("显示 delivered 但没收到 {waybill}",),
    },
    "紧急": {
        0: (
            "{city}仓 low stock alert：{sku}剩{qty}件",
            "URGENT {sku} 缺货，请尽快补货",
            "库存预警 {wh} {sku} only {qty} left",
        ),
        1: ("爆款{item} stockout risk，{days}天后断货",),
        2: ("Red alert：{wh}库存告急",),
        3: ("直播间{item} sold out，{wh}急需补货",),
    },
    "清关": {
        0: (
            "包裹{waybill} customs clearance中，{port}",
            "订单{order}清关需要 ID card 信息",
            "Customs 查验中 {waybill}",
        ),
        1: ("税单已出 duty {amount}，运单{waybill}",),
        2: ("HS code 错了，{sku}无法清关",),
        3: ("跨境直邮 {waybill} customs 申报中",),
    },
    "退货": {
        0: (
            "订单{order}要 return，请安排 pickup",
            "Refund {amount} 已退回原支付方式",
            "退货 label {waybill} 已寄出",
        ),
        1: ("仅退款 refund only：{order}",),
        2: ("Return 质检OK，{sku}可以 restock",),
        3: ("直播间买的{item}要 return",),
    },
    "地址变更": {
        0: (
            "订单{order} address change：{addr}",
            "Please 改地址到{addr}",
            "{waybill}改派 new address {addr}",
        ),
        1: ("Consignee 改成{name}，订单{order}",),
        2: ("{waybill} forwarding 到{city2}",),
        3: ("Checkout 地址选错了，改成{addr}",),
    },
    "拦截": {
        2: (
            "请 intercept {waybill}，不要派送",
            "Order {order} 取消了，拦截 please",
            "hold住{waybill}，别派了",
            "{carrier} intercept成功 {waybill}",
            "Stop shipment {waybill}，客户拒收",
        ),
        3: ("{waybill} 拍错了 please intercept",),
    },
}
