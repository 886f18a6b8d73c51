"""The fixed words of the text and Markdown reports, in the report's language. What servers
said and what probes found stays as it was; the catalogue's explanations carry the rest."""

from __future__ import annotations

ZH = {
    "step": "步骤",
    "status": "状态",
    "time": "耗时",
    "summary": "摘要",
    "evidence": "证据",
    "what it means": "含义",
    "what to do": "怎么办",
    "more": "参考文档",
    "timings": "各阶段耗时",
    "for support (paste into the ticket)": "提供给技术支持（粘贴到工单）",
    "For support": "提供给技术支持",
    "What acrdiag used": "acrdiag 使用的环境",
    "what the runtime sees": "容器运行时的视角",
    "What the runtime sees": "容器运行时的视角",
    "hosts, in the runtime's order:": "运行时依次尝试的主机：",
    "Hosts, in the runtime's order:": "运行时依次尝试的主机：",
    "What to do about the hosts that failed:": "失败主机的处理建议：",
    "reference": "镜像",
    "platform": "平台",
    "verdict": "结论",
    "registry kind": "仓库类型",
    "instance ID": "实例 ID",
    "instance name": "实例名称",
    "region": "地域",
    "endpoint type": "访问入口类型",
    "OSS bucket": "OSS Bucket",
    "storage endpoint": "存储访问域名",
    "request ID": "Request ID",
    "request IDs": "Request ID",
    "runtime": "运行时",
    "steps shown for": "上面的步骤来自",
    "read": "读取",
    "its proxies": "运行时代理",
    "proxy differs": "代理不一致",
    "note": "说明",
    "warning": "警告",
    "used resolver": "使用的解析器",
    "used trust": "使用的证书信任",
    "used credentials": "使用的凭证",
    "resolver": "解析器",
    "trust": "证书信任",
    "credentials": "凭证",
    "not learned": "未获知",
    "exit": "退出码",
    "exit code": "退出码",
    "OK": "成功",
    "WARN": "警告",
    "FAIL": "失败",
    "pass": "通过",
    "fail": "失败",
    "skipped": "跳过",
    "acrdiag report": "acrdiag 诊断报告",
}


def label(text: str, lang: str) -> str:
    """``text`` in ``lang``; "used proxy for registry" style labels by their prefix."""
    if lang != "zh":
        return text
    if text in ZH:
        return ZH[text]
    for prefix, shown in (("used proxy for ", "代理（"), ("proxy for ", "代理（")):
        if text.startswith(prefix):
            return f"{shown}{text[len(prefix) :]}）"
    return text
