"""lite"""
